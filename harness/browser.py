"""How the headless Chromium (Debian's package, never a downloaded browser) is launched."""

# As a sandboxed CI machine runs it: no sandbox (root), no GPU, and none of the
# background traffic a closed network would refuse.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
