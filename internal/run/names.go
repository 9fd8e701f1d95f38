package run

import "math/rand/v2"

var adjectives = []string{
	"amber", "brave", "calm", "clever", "crisp", "daring", "eager", "fancy", "gentle", "happy",
	"humble", "jolly", "keen", "lively", "lucky", "mellow", "nimble", "plucky", "quiet", "rapid",
	"silent", "snowy", "steady", "sunny", "swift", "tidy", "vivid", "witty", "zesty", "bold",
}

var animals = []string{
	"badger", "beaver", "bison", "crane", "dingo", "falcon", "ferret", "gecko", "heron", "ibex",
	"jackal", "koala", "lemur", "lynx", "marten", "moose", "newt", "ocelot", "otter", "panda",
	"puffin", "quail", "raven", "salmon", "stoat", "tapir", "toucan", "walrus", "wombat", "yak",
}

// randomName returns an adjective-animal name.
func randomName() string {
	return adjectives[rand.IntN(len(adjectives))] + "-" + animals[rand.IntN(len(animals))]
}
