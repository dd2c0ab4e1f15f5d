"""Call audio in any common format: the muted rendition of compressed or float audio (decoded and
re-encoded with PyAV, ``render``), and the files it reads and writes without plaintext on disk
(``files``). Pure audio code at the playback floor: no models are written here."""
