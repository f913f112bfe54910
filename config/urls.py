"""HTTP routes: the admin and the REST API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("emit_api.urls")),
]

# a route nothing matches answers with the contract's envelope, not an HTML page
handler404 = "emit_api.exceptions.not_found"
