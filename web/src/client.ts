/**
 * The gateway, as a browser reaches it: grpc-web (binary) with the caller's
 * token on every call. The clients are Connect-ES clients of the services
 * generated from protos/.
 */

import { type Client, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { MediaService } from "./gen/media/v1/media_pb.js";
import { PostService } from "./gen/post/v1/post_pb.js";

/** The caller's JWT, or a function that gives a current one (it may refresh). */
export type TokenSource = string | (() => string | Promise<string>);

export interface GatewayOptions {
  /** Where the gateway is, e.g. "https://api.example.com". */
  gateway: string;
  token: TokenSource;
}

export function gatewayTransport({ gateway, token }: GatewayOptions): Transport {
  const authorize: Interceptor = (next) => async (request) => {
    const jwt = typeof token === "function" ? await token() : token;
    request.header.set("authorization", `Bearer ${jwt}`);
    return next(request);
  };
  return createGrpcWebTransport({ baseUrl: gateway, interceptors: [authorize] });
}

export type MediaClient = Client<typeof MediaService>;
export type PostClient = Client<typeof PostService>;

export function mediaClient(transport: Transport): MediaClient {
  return createClient(MediaService, transport);
}

export function postClient(transport: Transport): PostClient {
  return createClient(PostService, transport);
}
