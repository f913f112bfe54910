"""Service health: `GET /status`."""

from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def status_view(request: Request) -> Response:
    return Response({"success": True, "message": "General socket is running"})
