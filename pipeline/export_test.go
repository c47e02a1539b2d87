package pipeline

// SetHook lets tests stop a run at a named point of publishing.
func SetHook(o *Options, hook func(stage string)) { o.hook = hook }
