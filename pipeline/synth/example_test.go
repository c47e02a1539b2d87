package synth_test

import (
	"context"
	"fmt"
	"os"

	"haze/pipeline/synth"
)

func ExampleWrite() {
	stats, err := synth.Write(context.Background(), os.Stdout, synth.Options{Rows: 3, Seed: 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d rows, %d passengers\n", stats.Rows, stats.Passengers)
	// Output:
	// passenger_id,first_name,last_name,email,phone,passport_number,date_of_birth,gender,nationality,ff_number,ff_tier,home_airport,postcode,card_number,booking_ref,booking_date,flight_date,origin,destination,cabin,fare_amount,ancillary_amount,currency,channel,marketing_consent,consent_timestamp,campaign
	// PAX489377946,Thomas,McDonald,t.mcdonald1@example.net,+447903434899,TG5928525,1949-05-08,M,GB,,none,LGW,CB7 1BD,4404539113790126,V9L333,2025-05-31,2025-06-12,LGW,BCN,economy,171.35,24.97,GBP,agent,true,2023-04-18T07:12:59Z,
	// PAX575690496,Niamh,Jones,niamh.jones2@example.com,+12931053794,WV4544221,1975-09-23,F,US,FF3743886259,blue,JFK,61553,5487363073290002,S88NR9,2026-01-31,2026-05-24,JFK,CDG,economy,477.10,0.00,USD,app,true,2019-04-03T10:44:57Z,black-friday
	// PAX489377946,Thomas,McDonald,t.mcdonald1@example.net,+447903434899,TG5928525,1949-05-08,M,GB,,none,LGW,CB7 1BD,4404539113790126,HHK7IP,2025-12-15,2026-01-17,BKK,DXB,economy,304.16,21.52,GBP,app,true,2023-04-18T07:12:59Z,
	// 3 rows, 2 passengers
}
