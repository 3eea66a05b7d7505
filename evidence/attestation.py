"""Evidence people provide: attestations (a statement and a document) and control exceptions."""
