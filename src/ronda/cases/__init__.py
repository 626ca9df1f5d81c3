"""Cases: the record an officer builds from a dumping, graffiti, alarm or bookmark up to a fine
(docs/cases.md): status flow, notes, plate and offender, signed evidence packages, printable report."""
