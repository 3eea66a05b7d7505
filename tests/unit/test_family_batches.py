"""How a family DAG deals its plan's units into mapped tasks (pure)."""

from __future__ import annotations

from typing import Any

from plugins.orchestration.family_dags import batch_label, batch_units


def unit(source: str, region: str) -> dict[str, Any]:
    return {
        "family": "aws",
        "source": source,
        "scope": [["account", "prod"], ["region", region]],
        "label": f"{source} prod/{region}",
    }


def test_units_are_dealt_into_near_equal_batches_keeping_a_scope_together() -> None:
    units = [unit(s, r) for r in ("us-east-1", "eu-west-1") for s in ("aws.s3", "aws.rds", "aws.kms")]
    batches = batch_units(units, 4)
    assert [len(b["units"]) for b in batches] == [2, 2, 1, 1]
    flat = [u for b in batches for u in b["units"]]
    assert sorted(map(str, flat)) == sorted(map(str, units))  # every unit once
    assert [u["scope"][1][1] for u in flat] == ["eu-west-1"] * 3 + ["us-east-1"] * 3
    assert batch_units(units, 2)[0]["units"] == [u for u in units if "eu-west-1" in u["label"]]


def test_fewer_units_than_batches_and_one_batch() -> None:
    units = [unit("aws.s3", "us-east-1")]
    assert batch_units(units, 4) == [{"label": "aws.s3 prod/us-east-1", "units": units}]
    assert batch_units([], 4) == []
    many = [unit(f"aws.s{i}", "us-east-1") for i in range(7)]
    assert len(batch_units(many, 1)) == 1 and len(batch_units(many, 1)[0]["units"]) == 7
    assert len(batch_units(many, 0)) == 1


def test_a_batch_is_named_after_what_it_collects() -> None:
    two = [unit("aws.s3", "us-east-1"), unit("aws.rds", "us-east-1")]
    assert batch_label(two) == "aws.s3 prod/us-east-1, aws.rds prod/us-east-1"
    five = [unit(f"aws.s{i}", "eu-west-1") for i in range(5)]
    assert batch_label(five) == "aws.s0 prod/eu-west-1 … aws.s4 prod/eu-west-1 (5 units)"


class LazyResults:
    """Like Airflow's lazy XCom sequence: a length, items by index, a failure past the end."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Any:
        if index >= len(self.items):
            raise AssertionError("read past the end (Airflow logs a 404 as an error)")
        return self.items[index]

    def __iter__(self) -> Any:
        raise AssertionError("iterated: Airflow reads one past the end")


def test_publish_reads_mapped_results_by_index_and_merges_them() -> None:
    from plugins.orchestration.family_dags import publish_assets

    results = LazyResults(
        [
            {"family": "aws", "unit": "a", "types": {"aws.s3.x": {"pass": 2}}},
            None,  # a batch whose task failed has no result
            {"family": "aws", "unit": "b", "types": {"aws.s3.x": {"fail": 1}, "aws.rds.y": {"pass": 1}}},
        ]
    )
    assert publish_assets(results, {}) == {"aws.s3.x": {"pass": 2, "fail": 1}, "aws.rds.y": {"pass": 1}}
    assert publish_assets(None, {}) == {}
