"""`titan-deploy rotate ...` (DESIGN §8): one module per command, a shared executor.

hmac.py (phase 1 and --finish), db.py, exchange.py, status.py, recover.py (resume, abort);
runner.py runs a journaled plan step by step; effects.py is what the steps do on a real stack;
session.py holds the lock + journal session and the reports.
"""
