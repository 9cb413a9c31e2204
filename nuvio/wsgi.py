"""
WSGI config for nuvio project.

It exposes the WSGI callable as a module-level variable named ``application``.

For more information on this file, see
https://docs.djangoproject.com/en/5.2/howto/deployment/wsgi/
"""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from nuvio.front import SharedPageFront

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nuvio.settings")

application = SharedPageFront(get_wsgi_application())

# What a worker loads once (the apps, the URL configuration and every view
# and serializer it imports: some 130,000 objects) lives as long as the
# worker. Left to the collector, each full collection walks all of it,
# stalling a request for 35-60 ms every few dozen requests; frozen, the
# collector looks only at what requests allocate.
get_resolver().reverse_dict  # noqa: B018 (imports every view, builds the routes)
gc.collect()
gc.freeze()
