"""The kill switch: pause one flow or everything, and resume exactly where it stopped.

Modules: ``models`` (the switches, and the work a paused run was about to do), ``pause``
(throwing a switch, pausing and resuming runs, and the engine hooks that hold what a paused run
would start), ``selectors`` (is a flow switched off; a switch as pages and the API show it),
``api`` (the JSON operations), ``views`` and ``urls`` (the HTML actions). Templates are in
``templates/killswitch/``.

Nothing is imported here: ``flows.models`` imports ``flows.killswitch.models``, and ``pause``
imports the engine, which imports ``flows.models``.

What a pause guarantees, and where:
- **Nothing is claimed after it.** ``pause.flow_pause``/``pause.global_pause`` commit an active
  ``KillSwitch`` first; ``runner.step_claim`` refuses any step whose run is paused *or* whose
  flow (or everything) is switched off (``selectors.engaged_q``), so a run the sweep has not
  reached yet cannot start a step either. A refused claim pauses that run
  (``pause.claim_refused``): a run that started while the switch was being thrown is caught
  there.
- **In-flight results are held.** Each active run in scope is moved to ``paused`` under its row
  lock. A step already executing finishes; its completion records the step (status, output,
  usage: the result is kept) but ``Advance.drain`` starts nothing on a paused run: the nodes
  that became ready are stored as ``HeldActivation`` rows (``pause.hold``) instead of being
  started or enqueued, and the run does not settle (cannot succeed or fail by itself).
- **Resume continues where it stopped** (``pause.run_resume``): under the run lock, the run goes
  back to running, its held activations are started in the order held (``Advance.release``),
  its queued steps (whose messages a refused claim consumed) are published again, and the run
  settles into whatever its steps say. Nothing already executed is executed again: completed
  steps are never re-run, and a duplicate message finds nothing to claim.
- **Triggers still start runs**: a run started while its flow is switched off (a trigger, a
  retry, a subflow) is created and paused at once by ``Advance.start``
  (``pause.run_created``); its entry nodes are held, not lost.
- **The reconciler does not fight it**: it only recovers, re-publishes or fires steps of runs
  that are queued, running or waiting for approval; a paused run is left alone.

Pausing and resuming are audited (kind ``config``), each paused or resumed run as a transition.
"""
