"""The devices of this plant: drivers set up from the settings (:mod:`.devices`), whether each is in the plan
(:mod:`.service`), what the timed sweep sees of them (:mod:`.watch`), where an insert run goes (:mod:`.runs`),
and the cutter line in front of the inserters (:mod:`.cutting`)."""
