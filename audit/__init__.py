"""The append-only, hash-chained audit trail. Write it with `from audit.records import record` (and the
refusal helpers `denied` / `forbidden` there); read it through `audit.selectors`."""
