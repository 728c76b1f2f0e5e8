"""The grader service's Jupyter server: let the formgrader show inside its own JupyterLab.

The formgrader panel of JupyterLab is an iframe of the same server's /formgrader page.
JupyterHub >= 4.1 sends ``Content-Security-Policy: frame-ancestors 'none'`` from every
single-user server, so that panel stays blank (jupyter/nbgrader#1870). With per-user and
per-service subdomains (``CNNKIT_HUB_SUBDOMAINS=on``, set by hub/jupyterhub_config.py),
the service has an origin of its own, and ``'self'`` lets only the service's own pages
frame it: no student's server can. Without subdomains we keep JupyterHub's 'none'; the
instructor then opens .../formgrader in a tab of its own (docs/hub.md).
"""

import os

c = get_config()  # noqa: F821 - Jupyter defines get_config when it loads this file

if os.environ.get("CNNKIT_HUB_SUBDOMAINS") == "on":
    c.ServerApp.tornado_settings = {"headers": {"Content-Security-Policy": "frame-ancestors 'self'"}}
