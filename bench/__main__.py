"""python -m bench: every benchmark, one table each."""

from bench import browser, processing, sessions

if __name__ == "__main__":
    processing.main()
    sessions.main()
    browser.main()
