"""What the API accepts, as data and pure functions: the media-type table and
the content signatures. Shared by media_service and the clients, so a file a
client checks locally is judged exactly as the server will judge it; it
imports nothing of the services and nothing of grpc."""
