"""gunicorn settings for a plain command line, the same as `ddi-cds serve --production`:

    PROMETHEUS_MULTIPROC_DIR=/tmp/ddi-cds-metrics gunicorn -c deploy/gunicorn.conf.py \
        'cds_service.app:create_production_app()'

(the folder must exist and be empty at start). Reasons for each value: cds_service/production.py.
"""

import os
from dataclasses import replace

from cds_service.config import Settings
from cds_service.production import gunicorn_options

_settings = replace(Settings.from_env(), production=True)  # as `ddi-cds serve --production`
_options = gunicorn_options(_settings, os.environ.get("DDI_CDS_BIND", "0.0.0.0:8080"))
globals().update(_options)
