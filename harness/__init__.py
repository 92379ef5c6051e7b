"""What the tests and the benchmarks share to drive a local mesh.

Not test code: the environment a mesh of one's own runs in (free ports, a
throwaway PostgreSQL database, a broker queue of its own), sample media made
on the spot, the REST API as a client calls it, and the headless Chromium's
launch arguments. Tests and benchmarks import it; the services never do, and
the image does not ship it.
"""
