"""The gateway's reflection describes the public API only."""

from google.protobuf import descriptor_pb2

from gateway.envoy_config import DESCRIPTOR_SET
from gateway.reflection import load_pool, public_files
from gateway.services import INTERNAL_METHODS

INTERNAL_ONLY_MESSAGES = {
    "AttachMediaRequest",
    "AttachMediaResponse",
    "DetachMediaRequest",
    "DetachMediaResponse",
    "ListPostMediaRequest",
    "ListPostMediaResponse",
}


def _descriptor_set() -> list[descriptor_pb2.FileDescriptorProto]:
    return list(descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file)


def test_the_internal_methods_and_the_messages_only_they_use_are_left_out():
    files = _descriptor_set()

    public = {f.name: f for f in public_files(files, INTERNAL_METHODS)}

    media = public["genproto/media/v1/media.proto"]
    methods = {m.name for s in media.service for m in s.method}
    assert methods == {
        "CreateUploadSession",
        "CompleteUpload",
        "CompleteMultipartUpload",
        "ListUploadParts",
        "AbortUpload",
        "GetMedia",
        "ListMedia",
        "UpdateMedia",
        "GetUsage",
        "DeleteMedia",
        "WatchMedia",  # no REST mapping, but a stream for callers
    }
    original = next(f for f in files if f.name == media.name)
    removed = {m.name for m in original.message_type} - {m.name for m in media.message_type}
    assert removed == INTERNAL_ONLY_MESSAGES
    # Files of others are served as they are; so is the post API (no internal method).
    for file in files:
        if file.name != media.name:
            assert public[file.name] == file, file.name


def test_the_pool_resolves_every_public_method_and_no_internal_one():
    pool = load_pool(DESCRIPTOR_SET)

    service = pool.FindServiceByName("media.v1.MediaService")
    assert "AttachMedia" not in [m.name for m in service.methods]
    assert pool.FindMessageTypeByName("media.v1.Media").fields_by_name["variants"]
    assert pool.FindMessageTypeByName("media.v1.ErrorBody")  # the error details stay
    for name in INTERNAL_ONLY_MESSAGES:
        try:
            pool.FindMessageTypeByName(f"media.v1.{name}")
        except KeyError:
            continue
        raise AssertionError(f"media.v1.{name} is still described")


def _message(name: str, *fields: str, nested: list | None = None) -> descriptor_pb2.DescriptorProto:
    message = descriptor_pb2.DescriptorProto(name=name, nested_type=nested or [])
    for number, type_name in enumerate(fields, start=1):
        message.field.add(
            name=f"f{number}",
            number=number,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name=type_name,
        )
    return message


def test_what_a_public_method_reaches_stays_even_through_nested_types_and_shared_ones():
    file = descriptor_pb2.FileDescriptorProto(name="genproto/x/v1/x.proto", package="x.v1")
    file.message_type.extend(
        [
            _message("PublicIn", ".x.v1.Shared", nested=[_message("Inner", ".x.v1.DeepPublic")]),
            _message("PublicOut"),
            _message("Shared", ".google.protobuf.Timestamp"),
            _message("DeepPublic"),
            _message("InternalIn", ".x.v1.Shared", ".x.v1.InternalOnly.Part"),
            _message("InternalOnly", nested=[_message("Part")]),
            _message("InternalOut", ".x.v1.InternalState"),
            _message("Unused"),
        ]
    )
    file.enum_type.add(name="InternalState").value.add(name="UNKNOWN", number=0)
    service = file.service.add(name="Svc")
    service.method.add(name="Pub", input_type=".x.v1.PublicIn", output_type=".x.v1.PublicOut")
    service.method.add(name="Int", input_type=".x.v1.InternalIn", output_type=".x.v1.InternalOut")

    [public] = public_files([file], ["/x.v1.Svc/Int"])

    assert [m.name for m in public.service[0].method] == ["Pub"]
    assert [m.name for m in public.message_type] == [
        "PublicIn",
        "PublicOut",
        "Shared",
        "DeepPublic",
        "Unused",
    ]
    assert list(public.enum_type) == []
    assert len(file.service[0].method) == 2  # the input is left as it was
