"""Geography: geocoding accounts to points (:mod:`.geocode`), the unit layers and their
adjacency (:mod:`.units`) and Census ZCTA polygons (:mod:`.zcta`)."""
