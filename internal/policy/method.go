package policy

import (
	"fmt"
	"strings"
)

// CheckMethod refuses the methods whose answer echoes the request back,
// headers included, in every mode: TRACE and TRACK (in any case, as some
// servers read methods). An injected credential would come back to the
// agent in the body.
func CheckMethod(method string) Decision {
	if strings.EqualFold(method, "TRACE") || strings.EqualFold(method, "TRACK") {
		return Decision{Rule: fmt.Sprintf("method %+q is refused: the server echoes the request back, credentials included", method)}
	}
	return Decision{Allowed: true}
}
