"""gunicorn settings for a plain command line, the same as `ddi-cds serve --production`:

    PROMETHEUS_MULTIPROC_DIR=/tmp/ddi-cds-metrics gunicorn -c deploy/gunicorn.conf.py \
        'cds_service.web:create_app()'

(the folder must exist and be empty at start). Reasons for each value: cds_service/production.py.
"""

import os

from cds_service.config import Settings
from cds_service.production import gunicorn_options

_options = gunicorn_options(Settings.from_env(), os.environ.get("DDI_CDS_BIND", "0.0.0.0:8080"))
globals().update(_options)
