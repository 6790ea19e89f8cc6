"""The pages people open: scenario maps (:mod:`.maps`), the comparison page
(:mod:`.compare`) and their shared HTML helpers (:mod:`.html`)."""
