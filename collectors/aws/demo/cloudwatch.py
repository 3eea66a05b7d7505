"""Sample CloudWatch estate: an alarm that pages someone and alarms that notify nobody."""

from __future__ import annotations

from typing import Any

from collectors.aws.demo import Expectations, Expected

ACCOUNT = "123456789012"  # moto's default account


def seed(session: Any, regions: tuple[str, ...]) -> Expectations:
    home = regions[0]
    cloudwatch = session.client("cloudwatch", home)
    topic = session.client("sns", home).create_topic(Name="demo-oncall")["TopicArn"]

    def alarm(name: str, **params: Any) -> str:
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/ApplicationELB",
            MetricName="HTTPCode_Target_5XX_Count",
            Statistic="Sum",
            Period=60,
            EvaluationPeriods=5,
            Threshold=10,
            ComparisonOperator="GreaterThanThreshold",
            **params,
        )
        return f"arn:aws:cloudwatch:{home}:{ACCOUNT}:alarm:{name}"

    paged = alarm("demo-5xx-pages-oncall", AlarmActions=[topic], OKActions=[topic])
    silent = alarm("demo-5xx-no-actions")
    muted = alarm("demo-5xx-actions-disabled", AlarmActions=[topic], ActionsEnabled=False)
    # Only an OK action: the alarm tells someone when things recover, never when they break.
    ok_only = alarm("demo-5xx-ok-action-only", OKActions=[topic])
    return {"aws.cloudwatch.alarms": Expected(passing={paged}, failing={silent, muted, ok_only})}
