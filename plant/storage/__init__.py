"""Where the plant keeps files: content-addressed letter blobs and atomic writes (:mod:`.files`), and the
folders of the state directory that more than one area uses (:mod:`.paths`)."""
