"""A JupyterHub for one course of this kit: accounts, course folder, exchange and the hub.

``./kit hub start|stop|status`` runs :mod:`hub.control`; ``hub/jupyterhub_config.py`` is the
hub's configuration; ``hub/jupyter/`` holds the Jupyter and nbgrader settings each kind of
user's server gets; ``hub/install.sh`` installs what the machine needs. docs/hub.md says
how the pieces fit, and how to run the same course on The Littlest JupyterHub or Kubernetes.
"""
