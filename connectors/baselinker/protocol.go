package baselinker

import (
	"bytes"
	"context"
	"encoding/json"
)

// The protocol's own actions and the fixed lists.

// object is a JSON object whose members keep their order (Baselinker's
// answers are objects keyed by ids).
type object []member

type member struct {
	key   string
	value any
}

// MarshalJSON writes the members in order, <, > and & unescaped.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshal(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := marshal(m.value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// noParams is the request of an action without parameters.
type noParams struct{}

func (*noParams) parse(*form) {}

// Platform and FileVersion identify this integration file to Baselinker;
// Standard is the version of the integration-file protocol it follows.
const (
	Platform    = "Vendre-Extend gateway"
	FileVersion = "1.0"
	Standard    = 4
)

// fileVersionAnswer is FileVersion's answer.
type fileVersionAnswer struct {
	Platform string `json:"platform"`
	Version  string `json:"version"`
	Standard int    `json:"standard"`
}

// fileVersion is FileVersion: which integration file this is.
func (c *Connector) fileVersion(context.Context, noParams) (fileVersionAnswer, error) {
	return fileVersionAnswer{Platform: Platform, Version: FileVersion, Standard: Standard}, nil
}

// supportedMethods is SupportedMethods: the actions of the table.
func (c *Connector) supportedMethods(context.Context, noParams) ([]string, error) {
	var out []string
	for _, a := range c.table() {
		out = append(out, a.name)
	}
	return out, nil
}

// Order statuses as Baselinker sees them (status_id): the gateway's two
// states before an order is in Extend, then Extend's own.
const (
	StatusPending    = "pending"    // recorded by the gateway, not yet in Extend
	StatusManual     = "manual"     // cannot be created in Extend without a person
	StatusRegistered = "registered" // in Extend
	StatusReserved   = "reserved"   // sent to the warehouse for picking
	StatusPicked     = "picked"     // picked and shipped
	StatusDelivered  = "delivered"
	StatusCancelled  = "cancelled"
)

// statuses are StatusesList's answer, in order.
var statuses = object{
	{StatusPending, "Received, waiting for Extend"},
	{StatusManual, "Needs manual handling (see the gateway's /admin/pushers)"},
	{StatusRegistered, "Registered in Extend"},
	{StatusReserved, "Reserved: sent to the warehouse"},
	{StatusPicked, "Picked and shipped"},
	{StatusDelivered, "Delivered"},
	{StatusCancelled, "Cancelled"},
}

// statusesList is StatusesList: status_id to name.
func (c *Connector) statusesList(context.Context, noParams) (object, error) { return statuses, nil }

// DeliveryMethod and the payment methods are the fixed lists: Extend's
// model has no list of delivery or payment methods; the delivery and
// payment Baselinker names on an order are written into its comment.
const DeliveryMethod = "erp"

// deliveryMethodsList is DeliveryMethodsList.
func (c *Connector) deliveryMethodsList(context.Context, noParams) (object, error) {
	return object{{DeliveryMethod, "As booked in Extend Commerce"}}, nil
}

// paymentMethodsList is PaymentMethodsList.
func (c *Connector) paymentMethodsList(context.Context, noParams) (object, error) {
	return object{{"prepaid", "Paid on the marketplace"}, {"cod", "Cash on delivery"}, {"invoice", "Invoice from Extend"}}, nil
}
