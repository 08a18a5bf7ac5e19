from django.urls import path

from experiments import consumers

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", consumers.RunConsumer.as_asgi()),
    path("ws/projects/<int:project_id>/", consumers.ProjectConsumer.as_asgi()),
]
