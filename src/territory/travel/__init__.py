"""Travel: OpenStreetMap road graphs from file, download or cache (:mod:`.network`),
drive-time matrices and local pace on them (:mod:`.matrix`), drive hours a month on day
tours (:mod:`.burden`) and drive-time areas (:mod:`.isochrones`)."""
