"""Views shared by the faces (magics, panel): the results view and the progress display. No I/O."""
