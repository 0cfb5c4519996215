"""Review of a synthesized version: keep the accepted synthetic records, drop the
rejected ones, and write the result as a new version (child of the reviewed one)."""

from __future__ import annotations

from pathlib import Path

from builder.curate.store import DatasetVersion, write_version


def synthetic_counts(train: list[dict], val: list[dict]) -> dict:
    """The count fields synthesis maintains: totals of the files, and the synthetic share
    of the train tokens."""
    synthetic = [r["meta"].get("n_tokens", 0) for r in train if r.get("meta", {}).get("synthetic")]
    real = sum(r["meta"].get("n_tokens", 0) for r in train if not r.get("meta", {}).get("synthetic"))
    total = real + sum(synthetic)
    return {"train": len(train), "val": len(val), "conversations": len(train) + len(val),
            "synthetic_records": len(synthetic), "synthetic_tokens": sum(synthetic),
            "synthetic_share": sum(synthetic) / total if total else 0.0}


def write_reviewed(version: DatasetVersion, rejected: set[int]) -> Path:
    """A new version without the rejected synthetic records (indexes into ``version.train``)."""
    train = [r for i, r in enumerate(version.train) if i not in rejected]
    manifest = {k: v for k, v in version.manifest.items() if k != "files"}
    counts = {**(manifest.get("counts") or {}), **synthetic_counts(train, version.val)}
    manifest["counts"] = counts
    manifest["review"] = {"from": version.ref, "rejected_synthetic": len(rejected),
                          "accepted_synthetic": counts["synthetic_records"]}
    return write_version(version.name, train, version.val, manifest, root=version.path.parent.parent,
                         parent=version.ref)
