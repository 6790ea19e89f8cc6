"""Tables in and out: reading and validating the CRM export (:mod:`.accounts`) and writing
every output file (:mod:`.export`: formula-safe CSV/Excel, GeoJSON, GeoPackage, JSON)."""
