package simulate

// Read accessors for the Mesos HTTP face (simulate/mesosapi).

// Stats returns the counters so far; the master metrics (tasks_lost, slave_registrations…) read them.
func (v *View) Stats() Stats { return v.w.stats }
