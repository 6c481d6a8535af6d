"""The mutation fuzzer over letter PDFs (issue 11): mutations, a runner through pre-flight and imposition, and
the regression corpus it keeps."""
