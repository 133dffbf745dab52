// Placeholder entry point; the sample is being written (issue 23).
return 0;
