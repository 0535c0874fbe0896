"""titan-deploy: deploy Titan with every secret a file under /run/secrets and nowhere else."""

__version__ = "0.1.0"
