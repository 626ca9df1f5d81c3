"""Licence plates (docs/analytics.md, Licence plates): reading (format rules, localisation, OCR), the
``plates`` analyser, and the plate-read store with hotlists and allowlists."""
