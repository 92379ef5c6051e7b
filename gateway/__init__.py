"""The gateway side: Envoy's config, dev keys and tokens, and the local mesh runner.

It imports no service code: services are started as processes and reached
over gRPC and HTTP, as any other caller would.
"""
