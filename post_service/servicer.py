"""PostService over gRPC: decode the request, call the domain, encode the reply."""

import grpc

from genproto.post.v1 import post_pb2, post_pb2_grpc
from mesh.auth import current_caller
from mesh.messages import timestamp
from post_service.posts import AttachedMedia, NewPost, Posts, PostView


class PostServicer(post_pb2_grpc.PostServiceServicer):
    def __init__(self, posts: Posts) -> None:
        self._posts = posts

    def CreatePost(
        self, request: post_pb2.CreatePostRequest, context: grpc.ServicerContext
    ) -> post_pb2.Post:
        # REST callers send the Idempotency-Key header, which arrives as metadata.
        header = str(dict(context.invocation_metadata()).get("idempotency-key", ""))
        new = NewPost(
            content=request.content,
            media_ids=list(request.media_ids),
            idempotency_key=request.idempotency_key or header,
        )
        return _post_message(self._posts.create(current_caller(), new))

    def DeletePost(
        self, request: post_pb2.DeletePostRequest, context: grpc.ServicerContext
    ) -> post_pb2.DeletePostResponse:
        detached = self._posts.delete(current_caller(), request.post_id)
        return post_pb2.DeletePostResponse(post_id=request.post_id, detached_media_ids=detached)

    def GetPost(
        self, request: post_pb2.GetPostRequest, context: grpc.ServicerContext
    ) -> post_pb2.Post:
        return _post_message(self._posts.get(current_caller(), request.post_id))

    def ListFeed(
        self, request: post_pb2.ListFeedRequest, context: grpc.ServicerContext
    ) -> post_pb2.ListFeedResponse:
        page = self._posts.feed(current_caller(), request.page_size, request.page_token)
        return post_pb2.ListFeedResponse(
            posts=[_post_message(v) for v in page.posts], next_page_token=page.next_page_token
        )


def _post_message(view: PostView) -> post_pb2.Post:
    return post_pb2.Post(
        post_id=view.post.id,
        author_id=view.post.author_id,
        content=view.post.content,
        media=[_media_message(m) for m in view.media],
        created_at=timestamp(view.post.created_at),
    )


def _media_message(media: AttachedMedia) -> post_pb2.PostMedia:
    return post_pb2.PostMedia(
        media_id=media.media_id,
        media_type=media.media_type,
        status=media.status,
        cdn_url=media.cdn_url,
        width=media.width,
        height=media.height,
        poster_url=media.poster_url,
        blurhash=media.blurhash,
        duration_ms=media.duration_ms,
        variants=[
            post_pb2.Variant(
                name=v.name,
                width=v.width,
                height=v.height,
                content_type=v.content_type,
                url=v.url,
                duration_ms=v.duration_ms,
            )
            for v in media.variants
        ],
        description=media.description,
        focus=post_pb2.Focus(x=media.focus.x, y=media.focus.y) if media.focus is not None else None,
    )
