"""`titan-deploy rotate ...` (README "Rotation runbook"): one module per command, one shared run.

hmac.py (phase 1 and --finish), db.py, exchange.py, recover.py (resume, abort) each say only what
is theirs — which secret, how to plan, the summary — as a `Command`; command.py runs it
(dry run | lock -> journal -> plan -> execute -> report); runner.py executes a journaled plan step
by step; effects.py is what the steps do on a real stack; session.py holds the lock + journal
session; report.py the reports; settings.py the operator's options (RotateSettings); status.py
reads the journal.
"""
