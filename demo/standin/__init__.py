"""Stand-ins for the Titan stack's services (demo/README.md). Python 3 stdlib + psycopg2."""
