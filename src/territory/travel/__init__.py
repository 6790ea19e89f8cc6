"""Travel: OpenStreetMap road graphs from file, download or cache (:mod:`.network`) and
drive-time matrices, monthly travel burden and isochrones on them (:mod:`.burden`)."""
