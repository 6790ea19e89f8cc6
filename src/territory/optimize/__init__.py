"""The optimizer: the unit-to-rep assignment model (:mod:`.assign`), its large-instance
LNS engine (:mod:`.lns`) and the k-means / LP seeding of territory centres (:mod:`.seed`)."""
