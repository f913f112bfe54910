"""REST API routes (contract §8), the OpenAPI schema and its docs page."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("status", views.StatusView.as_view(), name="status"),
    path("metrics", views.MetricsView.as_view(), name="metrics"),
    path("emit/account/<str:account_id>/<str:event>", views.EmitToAccountView.as_view()),
    path("emit/room/<str:room>/<str:event>", views.EmitToRoomView.as_view()),
    path("emit/<str:user_id>/<str:event>", views.EmitToUserView.as_view()),
    path("online/<str:user_id>", views.OnlineView.as_view()),
    path("lead-finder/<str:job_id>/<str:event>", views.LeadFinderEventView.as_view()),
    path(
        "conversations/<str:channel>/emit/message/<str:message_id>",
        views.ProspectMessageEmitView.as_view(),
    ),
    path(
        "conversations/<str:channel>/emit/conversation/<str:convo_id>/<str:is_new>",
        views.ProspectConversationEmitView.as_view(),
    ),
    path("live/visitor-token", views.VisitorTokenView.as_view()),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
