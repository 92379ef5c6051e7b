"""The CreatePost saga's repair branches, each to its exact end state.

post_service's own table is real (SQLite, then PostgreSQL); media_service is
an in-memory fake (tests/post_service/fake_media.py) that can refuse, be
unavailable, or attach and lose its reply. A crash is a checkpoint that
raises what nothing in the saga catches, as os._exit would stop it there. The
reconciler's pass is run by hand; a post is made old enough for it by moving
its created_at back, never by waiting.
"""

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from prometheus_client import Counter as Metric

from mesh.auth import Caller
from mesh.db import utcnow
from mesh.errors import (
    AlreadyExists,
    Conflict,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    MeshError,
    NotFound,
    Unavailable,
)
from mesh.faults import Checkpoint
from post_service import metrics
from post_service.models import Post, PostStatus, database
from post_service.posts import NewPost, Posts, PostView
from post_service.reconciler import reconcile
from tests.post_service.fake_media import FakeMediaDirectory
from tests.support import migrated

ALICE = Caller(user_id="alice", token="alice's token")
RECONCILE_AFTER = timedelta(minutes=1)
# Media ids, in the order the tests list them (any id of at most 36 characters will do).
A, B, C = "media-a", "media-b", "media-c"
OUTAGE = Unavailable("media_service is unavailable")


class Crash(BaseException):
    """The process died here: nothing in the saga may catch it."""


def crashing_after(point: str) -> Checkpoint:
    def checkpoint(reached: str) -> None:
        if reached == point:
            raise Crash(point)

    return checkpoint


@pytest.fixture
def posts_table(database_url: str) -> Iterator[None]:
    """post_service's table, migrated, on SQLite then on PostgreSQL."""
    with migrated(database, database_url, "post_service.migrations", "post_schema_migrations"):
        yield


@pytest.fixture
def media() -> FakeMediaDirectory:
    fake = FakeMediaDirectory()
    for media_id in (A, B, C):
        fake.add("alice", media_id)
    return fake


@pytest.fixture
def posts(posts_table: None, media: FakeMediaDirectory) -> Posts:
    return Posts(media)


def _delta(metric: Metric) -> Callable[[], Counter[str]]:
    """How much each outcome of `metric` has grown since this was called."""

    def totals() -> Counter[str]:
        return Counter(
            {
                sample.labels["outcome"]: int(sample.value)
                for family in metric.collect()
                for sample in family.samples
                if sample.name.endswith("_total")
            }
        )

    before = totals()
    return lambda: totals() - before


@pytest.fixture
def sagas() -> Callable[[], Counter[str]]:
    return _delta(metrics.SAGAS)


@pytest.fixture
def repairs() -> Callable[[], Counter[str]]:
    return _delta(metrics.REPAIRS)


# Calls as the servicer makes them: one connection per call.


def create(posts: Posts, media_ids: list[str], key: str = "", content: str = "hi") -> PostView:
    with database.connection_context():
        return posts.create(ALICE, NewPost(content, media_ids, key))


def create_refused(posts: Posts, media_ids: list[str], key: str = "") -> MeshError:
    with pytest.raises(MeshError) as raised:
        create(posts, media_ids, key)
    return raised.value


def create_crashing_after(
    point: str, media: FakeMediaDirectory, media_ids: list[str], key: str = ""
) -> str:
    """CreatePost on a post_service that dies after `point`; the id of the post it left."""
    before = {post_id for post_id, _ in rows()}
    with pytest.raises(Crash):
        create(Posts(media, checkpoint=crashing_after(point)), media_ids, key)
    (post_id,) = {post_id for post_id, _ in rows()} - before
    return post_id


def reconcile_old_posts(posts: Posts) -> Counter[str]:
    """One pass, every post in the table made older than the threshold first."""
    with database.connection_context():
        Post.update(created_at=utcnow() - 2 * RECONCILE_AFTER).execute()
    return reconcile(posts, RECONCILE_AFTER)


def rows() -> list[tuple[str, str]]:
    """alice's posts: (id, status)."""
    with database.connection_context():
        return [(p.id, p.status) for p in Post.select().where(Post.author_id == "alice")]


def published(posts: Posts, post_id: str) -> PostView:
    with database.connection_context():
        return posts.get(ALICE, post_id)


def invisible(posts: Posts, post_id: str) -> bool:
    with database.connection_context():
        try:
            posts.get(ALICE, post_id)
        except NotFound:
            return True
        return False


# CreatePost: the saga in one request


def test_a_post_with_free_media_is_published_with_them(posts, media, sagas):
    view = create(posts, [B, A])

    assert rows() == [(view.post.id, PostStatus.PUBLISHED)]
    assert [m.media_id for m in view.media] == [B, A]  # the author's order
    assert media.attached_to(view.post.id) == [A, B]
    assert [m.media_id for m in published(posts, view.post.id).media] == [B, A]
    assert sagas() == Counter(published=1)


def test_a_post_without_media_never_calls_media_service(posts, media, sagas):
    view = create(posts, [])

    assert rows() == [(view.post.id, PostStatus.PUBLISHED)]
    assert media.calls == []
    assert sagas() == Counter(published=1)


@pytest.mark.parametrize(
    "scene, refusal, reason",
    [
        ("unknown", NotFound, "MEDIA_NOT_FOUND"),
        ("another user's", NotFound, "MEDIA_NOT_FOUND"),
        ("deleted", NotFound, "MEDIA_NOT_FOUND"),
        ("attached to another post", AlreadyExists, "MEDIA_ATTACHED"),
        ("not uploaded yet", FailedPrecondition, "MEDIA_NOT_ATTACHABLE"),
        ("failed processing", FailedPrecondition, "MEDIA_NOT_ATTACHABLE"),
    ],
)
def test_a_refused_attach_leaves_no_post_and_attaches_nothing(
    posts, media, sagas, scene, refusal, reason
):
    if scene == "unknown":
        del media.media[C]
    elif scene == "another user's":
        media.add("bob", C)
    elif scene == "deleted":
        media.add("alice", C, status="DELETED")
    elif scene == "attached to another post":
        media.add("alice", C, post_id="an-earlier-post")
    elif scene == "not uploaded yet":
        media.add("alice", C, status="PENDING")
    else:
        media.add("alice", C, status="FAILED")
    before = {m.media_id: m.post_id for m in media.media.values()}

    error = create_refused(posts, [A, B, C])

    assert type(error) is refusal and C in error.message
    assert (error.reason, error.metadata["mediaId"]) == (reason, C)  # passed on as it came
    assert rows() == []
    assert {m.media_id: m.post_id for m in media.media.values()} == before
    assert media.methods_called() == ["attach"]  # nothing attached: nothing to detach
    assert sagas() == Counter(refused=1)


@pytest.mark.parametrize("error", [OUTAGE, Internal("media_service failed on this request")])
def test_an_attach_that_failed_before_acting_is_undone(posts, media, sagas, error):
    media.fail_next("attach", error)

    raised = create_refused(posts, [A, B])

    assert raised is error  # the client hears the failure
    assert rows() == []
    assert media.unattached() == [A, B, C]
    assert media.methods_called() == ["attach", "detach"]  # the outcome was unknown
    assert sagas() == Counter(undone=1)


def test_an_attach_whose_reply_was_lost_is_detached_and_the_post_deleted(posts, media, sagas):
    media.fail_next("attach", OUTAGE, after_applying=True)

    raised = create_refused(posts, [A, B])

    assert raised is OUTAGE
    assert rows() == []
    assert media.unattached() == [A, B, C]  # free again, for the client's retry
    assert sagas() == Counter(undone=1)


def test_an_undo_that_cannot_detach_is_left_deleting_and_the_reconciler_finishes_it(
    posts, media, sagas, repairs
):
    media.fail_next("attach", OUTAGE, after_applying=True)
    media.fail_next("detach", OUTAGE)

    create_refused(posts, [A, B])

    # Given: told it failed, the post is hidden and marked for undoing...
    ((post_id, status),) = rows()
    assert status == PostStatus.DELETING
    assert invisible(posts, post_id)
    assert media.attached_to(post_id) == [A, B]
    assert sagas() == Counter(left=1)

    # When: the next pass, whatever the post's age
    outcomes = reconcile(posts, RECONCILE_AFTER)

    # Then: detached and deleted, never published
    assert outcomes == Counter(deleted=1)
    assert repairs() == Counter(deleted=1)
    assert rows() == []
    assert media.unattached() == [A, B, C]


def test_a_deleting_post_whose_detach_fails_again_waits_for_the_next_pass(posts, media, repairs):
    media.fail_next("attach", OUTAGE, after_applying=True)
    media.fail_next("detach", OUTAGE)
    create_refused(posts, [A])
    ((post_id, _),) = rows()
    media.fail_next("detach", OUTAGE)

    assert reconcile(posts, RECONCILE_AFTER) == Counter(left=1)
    assert rows() == [(post_id, PostStatus.DELETING)]
    assert media.attached_to(post_id) == [A]

    assert reconcile(posts, RECONCILE_AFTER) == Counter(deleted=1)
    assert rows() == []
    assert media.post_of(A) == ""
    assert repairs() == Counter(left=1, deleted=1)


# A crash mid-saga, then the reconciler


def test_a_crash_after_recording_is_attached_and_published_by_the_reconciler(posts, media):
    post_id = create_crashing_after("recorded", media, [A, B])
    assert rows() == [(post_id, PostStatus.PENDING)]
    assert media.calls == []

    assert reconcile_old_posts(posts) == Counter(published=1)

    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.attached_to(post_id) == [A, B]
    assert [m.media_id for m in published(posts, post_id).media] == [A, B]


def test_a_crash_after_recording_a_post_without_media_is_published(posts, media):
    post_id = create_crashing_after("recorded", media, [])

    assert reconcile_old_posts(posts) == Counter(published=1)

    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.calls == []


def test_a_crash_after_attach_is_published_by_the_reconciler(posts, media):
    post_id = create_crashing_after("attached", media, [A, B])
    # the media point at a post that readers cannot see yet...
    assert rows() == [(post_id, PostStatus.PENDING)]
    assert media.attached_to(post_id) == [A, B]
    assert invisible(posts, post_id)

    # ...until the reconciler repeats the attach (a no-op) and publishes it
    assert reconcile_old_posts(posts) == Counter(published=1)

    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.attached_to(post_id) == [A, B]
    with database.connection_context():
        assert Post.get_by_id(post_id).published_at is not None


def test_a_crashed_post_whose_media_was_taken_meanwhile_is_undone(posts, media):
    stranded = create_crashing_after("recorded", media, [A, B])
    winner = create(posts, [B]).post.id

    assert reconcile_old_posts(posts) == Counter(undone=1)

    assert stranded not in {post_id for post_id, _ in rows()}
    assert rows() == [(winner, PostStatus.PUBLISHED)]
    assert media.post_of(A) == ""
    assert media.post_of(B) == winner


def test_a_post_with_part_of_its_media_attached_is_detached_and_deleted(posts, media):
    # Given: A is attached to the stranded post, B has gone since
    post_id = create_crashing_after("recorded", media, [A, B])
    media.media[A].post_id = post_id
    del media.media[B]

    assert reconcile_old_posts(posts) == Counter(undone=1)

    assert rows() == []
    assert media.post_of(A) == ""
    assert media.methods_called() == ["attach", "detach"]


def test_an_undo_whose_detach_fails_is_done_on_the_next_pass(posts, media):
    post_id = create_crashing_after("recorded", media, [A, B])
    media.media[A].post_id = post_id
    del media.media[B]
    media.fail_next("detach", OUTAGE)

    assert reconcile_old_posts(posts) == Counter(left=1)
    # still PENDING (the reconciler does not mark a refused post DELETING):
    # the next pass repeats the attach, refused again, then detaches
    assert rows() == [(post_id, PostStatus.PENDING)]
    assert media.attached_to(post_id) == [A]

    assert reconcile(posts, RECONCILE_AFTER) == Counter(undone=1)
    assert rows() == []
    assert media.post_of(A) == ""


def test_an_outage_at_the_reconcilers_attach_leaves_the_post_for_the_next_pass(posts, media):
    post_id = create_crashing_after("recorded", media, [A])
    media.fail_next("attach", OUTAGE)

    assert reconcile_old_posts(posts) == Counter(left=1)
    assert rows() == [(post_id, PostStatus.PENDING)]
    assert media.post_of(A) == ""

    assert reconcile(posts, RECONCILE_AFTER) == Counter(published=1)
    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.post_of(A) == post_id


def test_a_reconciler_attach_whose_reply_was_lost_is_published_on_the_next_pass(posts, media):
    post_id = create_crashing_after("recorded", media, [A])
    media.fail_next("attach", OUTAGE, after_applying=True)

    assert reconcile_old_posts(posts) == Counter(left=1)
    assert rows() == [(post_id, PostStatus.PENDING)]
    assert media.post_of(A) == post_id

    assert reconcile(posts, RECONCILE_AFTER) == Counter(published=1)
    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.post_of(A) == post_id


def test_a_fault_at_the_reconcilers_attach_undoes_the_post(posts, media):
    # INTERNAL is not an outage: the reconciler takes it as a refusal, and
    # undoes the post, detaching first since the attach may have happened.
    post_id = create_crashing_after("recorded", media, [A])
    media.fail_next("attach", Internal("media_service failed"), after_applying=True)

    assert reconcile_old_posts(posts) == Counter(undone=1)

    assert rows() == []
    assert media.post_of(A) == ""
    assert post_id not in {m.post_id for m in media.media.values()}


def test_the_reconciler_leaves_pending_posts_younger_than_its_threshold_alone(posts, media):
    pending = create_crashing_after("recorded", media, [A])
    with database.connection_context():
        Post.update(created_at=utcnow() - RECONCILE_AFTER + timedelta(seconds=5)).execute()

    assert reconcile(posts, RECONCILE_AFTER) == Counter()

    assert rows() == [(pending, PostStatus.PENDING)]
    assert media.calls == []


def test_one_post_that_cannot_be_settled_does_not_stop_the_pass(posts, media, repairs):
    stuck = create_crashing_after("recorded", media, [A])
    with database.connection_context():
        Post.update(status=PostStatus.DELETING).where(Post.id == stuck).execute()
    media.fail_next("detach", Internal("media_service failed"), post_id=stuck)
    other = create_crashing_after("recorded", media, [B])

    assert reconcile_old_posts(posts) == Counter(error=1, published=1)

    assert sorted(rows()) == sorted([(stuck, PostStatus.DELETING), (other, PostStatus.PUBLISHED)])
    assert media.post_of(B) == other
    assert repairs() == Counter(error=1, published=1)


# Retries with the same Idempotency-Key


def test_a_retry_of_a_published_post_returns_it_and_attaches_nothing_again(posts, media, sagas):
    first = create(posts, [A, B], key="k1")

    again = create(posts, [A, B], key="k1")

    assert again.post.id == first.post.id
    assert [m.media_id for m in again.media] == [A, B]
    assert rows() == [(first.post.id, PostStatus.PUBLISHED)]
    assert media.methods_called() == ["attach", "media_of_posts"]
    assert sagas() == Counter(published=1)


def test_a_retry_after_a_crash_after_attach_finishes_the_same_post(posts, media):
    post_id = create_crashing_after("attached", media, [A], key="k1")

    view = create(posts, [A], key="k1")

    assert view.post.id == post_id
    assert [m.media_id for m in view.media] == [A]
    assert rows() == [(post_id, PostStatus.PUBLISHED)]
    assert media.attached_to(post_id) == [A]


def test_a_retry_after_an_undone_post_makes_a_new_one(posts, media):
    media.fail_next("attach", OUTAGE, after_applying=True)
    create_refused(posts, [A], key="k1")
    assert rows() == []

    view = create(posts, [A], key="k1")

    assert rows() == [(view.post.id, PostStatus.PUBLISHED)]
    assert media.attached_to(view.post.id) == [A]


def test_a_retry_while_the_post_is_being_undone_is_told_to_come_back(posts, media):
    media.fail_next("attach", OUTAGE, after_applying=True)
    media.fail_next("detach", OUTAGE)
    create_refused(posts, [A], key="k1")
    ((post_id, _),) = rows()

    error = create_refused(posts, [A], key="k1")

    assert isinstance(error, Conflict) and post_id in error.message
    assert rows() == [(post_id, PostStatus.DELETING)]
    assert media.attached_to(post_id) == [A]


def test_a_key_used_again_for_another_request_is_refused(posts, media):
    first = create(posts, [A], key="k1")

    error = create_refused(posts, [B], key="k1")

    assert isinstance(error, InvalidArgument)
    assert rows() == [(first.post.id, PostStatus.PUBLISHED)]
    assert media.post_of(B) == ""


# DeletePost: the saga backwards


def test_a_delete_whose_detach_fails_is_hidden_then_finished_by_the_reconciler(posts, media):
    post_id = create(posts, [A]).post.id
    media.fail_next("detach", OUTAGE)

    with database.connection_context(), pytest.raises(Unavailable):
        posts.delete(ALICE, post_id)

    assert rows() == [(post_id, PostStatus.DELETING)]
    assert invisible(posts, post_id)
    assert reconcile(posts, RECONCILE_AFTER) == Counter(deleted=1)
    assert rows() == []
    assert media.post_of(A) == ""


# A reconciler pass racing a retry of the same request: the retry's attach meets
# an outage and it undoes the post, while the pass, having read the post
# PENDING before, attaches its media (which could leave them on a deleted post).

# The pass works for the author with no token of theirs (mesh.auth's on-behalf-of).
FOR_THE_AUTHOR = Caller(user_id="alice", token="")


def _crashed_post_read_by_a_pass(media: FakeMediaDirectory) -> Post:
    """A post left PENDING by a crash (key k1), as a reconciler pass read it."""
    post_id = create_crashing_after("recorded", media, [A], key="k1")
    with database.connection_context():
        return Post.get_by_id(post_id)


def test_an_attach_landing_between_the_undos_detach_and_delete_is_detached_again(posts, media):
    read_by_the_pass = _crashed_post_read_by_a_pass(media)
    post_id = read_by_the_pass.id
    undo_detach = media.detach
    raised: list[MeshError] = []

    def detach_then_the_pass_attaches(caller: Caller, detached_post: str) -> list[str]:
        detached = undo_detach(caller, detached_post)
        media.detach = undo_detach
        try:
            posts.finish(FOR_THE_AUTHOR, read_by_the_pass)
        except MeshError as error:
            raised.append(error)
        return detached

    media.detach = detach_then_the_pass_attaches
    media.fail_next("attach", OUTAGE)
    create_refused(posts, [A], key="k1")

    (error,) = raised
    assert isinstance(error, Conflict)
    assert error.message == f"post {post_id} was undone while its media were being attached"
    assert rows() == []
    assert media.post_of(A) == ""


def test_an_attach_landing_after_the_undo_that_cannot_be_detached_is_left_deleting(posts, media):
    read_by_the_pass = _crashed_post_read_by_a_pass(media)
    post_id = read_by_the_pass.id
    media.fail_next("attach", OUTAGE)
    create_refused(posts, [A], key="k1")  # the retry undoes the post: its row is gone
    media.fail_next("detach", OUTAGE)

    with database.connection_context(), pytest.raises(Unavailable):
        posts.finish(FOR_THE_AUTHOR, read_by_the_pass)

    assert rows() == [(post_id, PostStatus.DELETING)]  # put back, without its key
    assert invisible(posts, post_id)
    assert media.post_of(A) == post_id
    assert reconcile(posts, RECONCILE_AFTER) == Counter(deleted=1)
    assert rows() == []
    assert media.post_of(A) == ""
    assert create(posts, [A], key="k1").media[0].media_id == A  # the key is free again
