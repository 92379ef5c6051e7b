"""python -m bench: every benchmark, one table each."""

from bench import (
    browser,
    client_upload,
    observability,
    processing,
    scale_out,
    sessions,
    transcode,
    watch,
)

if __name__ == "__main__":
    processing.main()
    transcode.main()
    sessions.main()
    browser.main()
    client_upload.main()
    watch.main()
    scale_out.main()
    observability.main()
