"""server.py - the module uvicorn and gunicorn workers import
("server:app"): each worker loads the ETL class from
ETL_CLASS_PAYLOAD (or ETL_CLASS_PAYLOAD_FILE) and instantiates it (bootstrap.py started them)."""
import logging

from bootstrap import instantiate, load_class

logging.basicConfig(level=logging.INFO, format="%(asctime)s - %(name)s - %(levelname)s - %(message)s")
server = instantiate(load_class())
app = server.app  # gunicorn takes a name, not an attribute path
