"""Serving the app to many users: several Streamlit replicas behind nginx (see deploy/README.md).

- `launch`: starts the replicas and nginx with a config made from `nginx.conf.template`, and stops them.
"""
