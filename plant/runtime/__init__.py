"""The running plant's processes: the broker and outbox relay (:mod:`.broker`, :mod:`.relay`), a worker
(:mod:`.worker`), a session that runs a submission to the end (:mod:`.session`), resume after a crash
(:mod:`.recovery`) and the timer of the timed sweeps (:mod:`.sweeps`). This is the one layer that registers
the stage actors (:data:`plant.stages.HANDLERS`)."""
