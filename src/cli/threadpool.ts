// Imported first by the CLI entry point, before anything touches the libuv thread pool (which
// starts on first use with UV_THREADPOOL_SIZE threads). Every delivered message fsyncs its blob
// file and directory on that pool and argon2 hashes run there too; the default of 4 threads
// makes 20 concurrent SMTP sessions queue behind each other's fsyncs.
process.env.UV_THREADPOOL_SIZE ??= '16';
